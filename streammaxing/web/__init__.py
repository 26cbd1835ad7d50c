"""The web dashboard: Discord sign-in, bot install and the server-rendered pages.

Every page and form calls the operations in `streammaxing.manage` with the signed-in actor;
nothing here decides who may do what or touches SQL other than the session and guild-list
queries in `streammaxing.schema`.
"""
