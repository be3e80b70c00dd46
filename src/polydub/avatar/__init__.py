"""Talking avatars and lecture videos: a photo and a text become a speaking video.

`make_avatar` (one photo + one text -> one MP4) and `make_lecture` (a lecture text split into
slides and fragments -> one video per fragment, the joined lecture, its JSON map) sit on the
voices (`polydub.voice`, `polydub.speakers`) and the face package's portrait animation
(`polydub.face.portrait`); the CLI, the API and the job workers are thin layers over them.
"""

from polydub.avatar.lecture import LectureRequest, make_lecture, split_lecture
from polydub.avatar.make import AvatarRequest, make_avatar

__all__ = ["AvatarRequest", "LectureRequest", "make_avatar", "make_lecture", "split_lecture"]
