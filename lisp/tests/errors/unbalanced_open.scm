; expect: read (syntax) error: unbalanced parentheses, end of file inside a list opened on line 3
(import (scheme base) (scheme write))
(define (f x)
  (display (+ x 1))
(f 1)
