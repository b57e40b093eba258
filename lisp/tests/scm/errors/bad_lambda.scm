;; compile-error: bad_lambda.scm:2:12: error: a parameter must be a symbol
(lambda (x 1) x)
