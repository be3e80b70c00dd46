"""Live dubbing: speech streams in, the dub streams out within about a second.

Reuses the pipeline's engines (speech/, translation/, voice/, speakers/) through their registries;
`LiveSession` is the library entry point, the CLI (`polydub live`) and the server's WebSockets are
thin layers over it.
"""

from polydub.live.config import LiveConfig
from polydub.live.engines import LiveEngines, shared_engines
from polydub.live.events import LiveEvent
from polydub.live.pcm import LiveInputError
from polydub.live.session import LiveSession

__all__ = ["LiveConfig", "LiveEngines", "LiveEvent", "LiveInputError", "LiveSession", "shared_engines"]
