"""Workers: procrastinate tasks that fan a go-live out and deliver it to Discord."""
