; expect: run-time error: for-each over a list that does not end in '()
(import (scheme base) (scheme write))
(for-each display '(1 2 . 3))
(newline)
