"""What a user runs the whole pipeline for: pricing tests and pricing diffs.

`testcases` compiles `test` blocks, `testrun` bills and checks them;
`diff_compare` evaluates a pricing change on real usage line by line,
`diff_view` writes it for people and machines, `diff_revision` reads the
old side from git. Workflows sit above every stage and may import any of
them; no stage imports a workflow.
"""
