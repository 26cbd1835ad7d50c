"""Slash commands over HTTP interactions, and Discord's install events.

- `model`: an interaction's payload, parsed into typed values (pure);
- `replies`: the bodies the endpoint answers with (pure);
- `catalog`: the command set `streammaxing commands sync` registers;
- `streamers`, `announce`, `alerts`: one module per command group, calling the operations;
- `dispatch`: which handler runs a command, and refusals as ephemeral replies;
- `endpoint`, `events`: the ``POST /interactions`` and ``POST /webhooks/discord`` routes;
- `follow_up`, `tasks`: the jobs that finish deferred answers and register installs;
- `sync`: registering the command set with a bulk overwrite.
"""
