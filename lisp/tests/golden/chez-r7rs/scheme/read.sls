;; (scheme read) for Chez Scheme 9.5 (see base.sls).
(library (scheme read) (export read) (import (chezscheme)))
