"""Set-up code of the lessons, one module per lesson (``rtt_edu.course.lesson03``, ...).

A lesson calls one function here for what a student need not read (building a figure's data,
a long table's layout), so each cell of the notebook shows only the idea it teaches.
"""
