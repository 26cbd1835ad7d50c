"""The operator's surfaces over `streammaxing.manage`: the JSON API and the CLI verbs.

`api` serves the operations under ``/api/v1`` with an OpenAPI document (`openapi`) built from
the operation table (`operations`, `routing`); `cli` exposes the same operations as
``streammaxing`` verbs. Both act as the operator, naming their surface (``api``, ``cli``).
"""
