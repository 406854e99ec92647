"""Reading and writing of frames, audio and video (ffmpeg from the imageio-ffmpeg wheel)."""
