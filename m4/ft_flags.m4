# SPDX-License-Identifier: MIT
# FT_CHECK_CFLAG(FLAG, [ACTION-IF-OK], [ACTION-IF-NOT])
# Compiles and links an empty program with FLAG added and -Werror, so that a flag the
# compiler only warns about counts as unsupported.
AC_DEFUN([FT_CHECK_CFLAG], [
	AC_MSG_CHECKING([whether $CC accepts $1])
	ft_save_CFLAGS="$CFLAGS"
	ft_save_LDFLAGS="$LDFLAGS"
	CFLAGS="$CFLAGS -Werror $1"
	LDFLAGS="$LDFLAGS $1"
	AC_LINK_IFELSE([AC_LANG_PROGRAM([], [])],
		[AC_MSG_RESULT([yes]); CFLAGS="$ft_save_CFLAGS"; LDFLAGS="$ft_save_LDFLAGS"; $2],
		[AC_MSG_RESULT([no]); CFLAGS="$ft_save_CFLAGS"; LDFLAGS="$ft_save_LDFLAGS"; $3])
])
