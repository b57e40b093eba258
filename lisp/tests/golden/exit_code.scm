(import (scheme base) (scheme write) (scheme process-context))
;; exit with a status: output before exit must be flushed; nothing after (exit 3) runs.
(display "before exit")
(newline)
(define (finish n) (exit n))
(finish 3)
(display "after exit: must not be printed")
(newline)
