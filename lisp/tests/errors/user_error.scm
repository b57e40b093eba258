; expect: run-time error raised by (error "boom" 1 2): message "boom", irritants 1 2; exit status non-zero
(import (scheme base) (scheme write))
(display "before")
(newline)
(error "boom" 1 2)
(display "after: must not be printed")
(newline)
