;; compile-error: macro_nomatch.scm:4:1: error: no `syntax-rules` pattern of macro `two` matches
(define-syntax two (syntax-rules () ((_ a b) (list a b))))
(display (two 1 2))
(two 1)
