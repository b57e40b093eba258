; expect: read (syntax) error: unexpected ')' on line 3
(import (scheme base) (scheme write))
(display 1))
(newline)
