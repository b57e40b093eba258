;; (scheme write) for Chez Scheme 9.5 (see base.sls).
(library (scheme write)
  (export display write (rename (write write-shared) (write write-simple)))
  (import (chezscheme)))
