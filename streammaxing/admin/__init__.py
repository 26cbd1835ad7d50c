"""Administration: the guild/streamer/member operations, their JSON API and their CLI verbs.

`service*` modules hold the operations (one transaction each); `api` serves them under
``/api/v1`` with an OpenAPI document (`openapi`) built from the same `models`; `cli` exposes the
same operations as ``streammaxing`` verbs.
"""
