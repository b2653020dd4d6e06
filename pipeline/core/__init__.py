"""The pure core: a frame of whole sessions in, span records and encoded spans out.

No I/O and no global state: the same functions run in process, in a worker pool or in a Ray task.
"""
