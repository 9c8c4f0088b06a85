"""What to make and how to make it: pure functions over values and files.

Nothing here touches the database or the scheduler; heavy libraries (torch,
diffusers) are imported inside the functions that need them.
"""
