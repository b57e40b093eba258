; expect: run-time error: + of a non-number (the symbol a)
(import (scheme base) (scheme write))
(display (+ 1 'a))
