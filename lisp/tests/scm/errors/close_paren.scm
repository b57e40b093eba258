;; compile-error: close_paren.scm:2:8: error: unexpected `)`
(f 1 2))
