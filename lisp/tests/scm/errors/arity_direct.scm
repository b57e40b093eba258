;; Wrong number of arguments in a direct call.
;; exit: 1
;; stderr: wrong number of arguments: `two` takes 2 argument(s), 3 given
;; stderr: arity_direct.scm:6
(define (two a b) a)
(display (two 1 2 3))
