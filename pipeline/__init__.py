"""realtrace: recorded OpenAI Realtime API event logs → OpenTelemetry traces.

Stages, one module each: load → sessionize → reconstruct → attributes → encode
→ batch/send → state. `convert.convert_frame` is the engine-agnostic core.
"""

__version__ = "0.1.0"
