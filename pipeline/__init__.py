"""realtrace: recorded OpenAI Realtime API event logs → OpenTelemetry traces.

Stages, one module each, data flowing one way: read/ (files → events) → plan
(what to read and send) → core/ (sessionize → reconstruct → attributes → encode;
`core.convert.convert_frame` is the engine-agnostic core) → send/ (batch → the
destination's sender chain) → state/, run by an engine/ (local or Ray) for `run`.
"""

__version__ = "0.1.0"
