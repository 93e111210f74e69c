package job

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size units are binary, as in Slurm: "1G" is 1024 MiB.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

// ErrBadSize is wrapped by every ParseSize error.
var ErrBadSize = errors.New("is not a size")

// ParseSize reads a memory size like Slurm's --mem: a plain number is MiB,
// otherwise a number with a K, M, G or T suffix (binary units; "KB", "KiB"
// and lower case are accepted too, and "B" for plain bytes). Negative sizes and sizes that overflow
// are refused; "0" means "no requirement".
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("%q %w", s, ErrBadSize)
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	if num == "" {
		return 0, fmt.Errorf("%q %w", s, ErrBadSize)
	}
	var mult Size
	switch unit {
	case "":
		mult = MiB
	case "B":
		mult = 1
	case "K", "KB", "KIB":
		mult = KiB
	case "M", "MB", "MIB":
		mult = MiB
	case "G", "GB", "GIB":
		mult = GiB
	case "T", "TB", "TIB":
		mult = TiB
	default:
		return 0, fmt.Errorf("%q %w: use K, M, G or T", s, ErrBadSize)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/int64(mult) {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return Size(n) * mult, nil
}

// String prints z with the largest binary unit that divides it ("4G", "512M"),
// in the form ParseSize reads back.
func (z Size) String() string {
	switch {
	case z == 0:
		return "0"
	case z < 0:
		return strconv.FormatInt(int64(z), 10) + "B"
	case z%TiB == 0:
		return strconv.FormatInt(int64(z/TiB), 10) + "T"
	case z%GiB == 0:
		return strconv.FormatInt(int64(z/GiB), 10) + "G"
	case z%MiB == 0:
		return strconv.FormatInt(int64(z/MiB), 10) + "M"
	case z%KiB == 0:
		return strconv.FormatInt(int64(z/KiB), 10) + "K"
	}
	return strconv.FormatInt(int64(z), 10) + "B"
}
