;; Calling a non-procedure.
;; exit: 1
;; stderr: attempt to call a non-procedure: 5
(define x 5)
(define (call f) (f 1) 'after)
(call x)
