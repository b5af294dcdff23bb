"""Grade submissions on the host, against answers the program never sees."""

from mle_gym.grading.grader import Grade, Grader, grade_file
from mle_gym.grading.submission import InvalidSubmission

__all__ = ["Grade", "Grader", "InvalidSubmission", "grade_file"]
