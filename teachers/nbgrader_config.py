# nbgrader's settings for a course built on the Roll-to-Train lessons (copy this file to the course folder).
#
# Put each authored lesson, lessons/source/NN_title.ipynb, in the course's source/lessonNN/ folder, then
#   nbgrader generate_assignment lessonNN    # release/: the graded student version (solutions and hidden tests out)
#   nbgrader autograde lessonNN              # grades submitted/<student>/lessonNN/ (each check cell: its points or 0)
# The stubs are the ones the student edition (notebooks/) shows, so both versions read alike.
c = get_config()  # noqa: F821  (nbgrader's config loader defines it)
c.ClearSolutions.code_stub = {"python": "answer = None   # your answer"}
c.ClearSolutions.text_stub = "*Your answer here.*"
c.Execute.timeout = 300          # seconds per cell: a lesson's longest cell takes well under a minute
