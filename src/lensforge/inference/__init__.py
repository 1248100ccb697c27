"""Model outputs on the platform's side: the result schema every trainer emits (`results`) and
the one renderer that draws it (`render`). Pure: pydantic and Pillow, no server, no framework."""
