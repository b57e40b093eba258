;; compile-error: unterminated string
(display "abc
