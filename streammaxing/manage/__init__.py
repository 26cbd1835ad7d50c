"""The operations on guilds, streamers and members, and who may do them.

Every surface — the admin API and CLI (`streammaxing.admin`), and later the dashboard and the
slash commands — calls these operations and nothing else, passing the `actor.Actor` that asks.
`rules` decides what each actor may do; `audit` records every write in the write's own
transaction; `services.ManageServices` carries the dependencies; refusals are `errors`;
requests and responses are `models`. Nothing here imports a surface.
"""
