;; case-lambda and string output ports.
(define area (case-lambda ((r) (* 3 r r)) ((w h) (* w h)) ((a b . rest) (list a b rest))))
(display (list (area 2) (area 3 4) (area 1 2 3 4))) (newline)
(define p (open-output-string))
(write 'sym p) (display " " p) (write "s" p) (newline p) (write-char #\z p)
(write (get-output-string p)) (newline)
(display (call-with-output-string (lambda (port) (display 42 port) (display '(a b) port)))) (newline)
