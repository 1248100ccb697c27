"""Resumable chunked uploads: how large files (dataset archives) reach the server.

A client opens a session (`POST /uploads`), sends numbered parts in any order and as often as
it needs (`PUT /uploads/{id}/parts/{n}`), asks what is missing after an interruption
(`GET /uploads/{id}`), and completes it (`POST /uploads/{id}/complete`). Importers then read the
assembled object through `UploadService.completed_object`.
"""
