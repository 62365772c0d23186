"""The tools' cores, one module per group: each function takes the :class:`ToolContext` and the
parsed arguments and returns a :class:`~agents.tools.common.Result` (or raises; the server turns
that into a structured error)."""
