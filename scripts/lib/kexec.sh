# shellcheck shell=bash
# kexec-tools for the arm64 nodes, sourced by scripts/vlab.
#
# Debian's arm64 kernel has no kexec_file_load (no CONFIG_KEXEC_FILE), so the
# agent kexecs there with kexec-tools' `kexec -l` (the kexec_load syscall),
# which bmcctld carries in the agent's archive as /bmc-kexec when its
# --agent-dir holds kexec-aarch64 (docs/agent.md). Debian's own arm64 binary
# links libxenctrl and glibc; a static one is built here instead from
# Debian's source package (its patches applied) with the aarch64 cross
# compiler: ~10 s, once, cached in CACHE/arm64/kexec-tools/.
#
# Needs (ARM_PACKAGES): gcc-aarch64-linux-gnu libc6-dev-arm64-cross make patch xz-utils.

# ensure_arm_kexec: CACHE/arm64/kexec-tools/kexec, static aarch64, stripped; prints its path.
ensure_arm_kexec() {
	local a=$CACHE_DIR/arm64/kexec-tools
	if [[ -x $a/kexec && -f $a/.complete ]]; then
		printf '%s\n' "$a/kexec"
		return 0
	fi
	[[ $(id -u) == 0 ]] || die "building kexec-tools for arm64 needs apt-get update (root)"
	log "building kexec-tools (static, aarch64) from Debian's source package"
	rm -rf "$a"
	mkdir -p "$a/apt/lists/partial" "$a/apt/parts"
	# The deb-src twins of the host's own apt sources, in a list of their
	# own: the host's apt configuration is not touched.
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] && sed 's/^Types:.*$/Types: deb-src/' "$f" >"$a/apt/parts/$(basename "$f")"
	done
	[[ -f /etc/apt/sources.list ]] &&
		sed -n 's/^deb \(.*\)$/deb-src \1/p' /etc/apt/sources.list >"$a/apt/parts/host.list"
	local o=(-o Dir::Etc::sourcelist=/dev/null -o "Dir::Etc::sourceparts=$a/apt/parts"
		-o "Dir::State::Lists=$a/apt/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
	# A source without deb-src indexes fails here; apt-get source says if that mattered.
	apt-get "${o[@]}" update -q >/dev/null 2>&1 || true
	(cd "$a" && apt-get "${o[@]}" source --download-only -q kexec-tools >/dev/null 2>&1) ||
		die "apt-get source kexec-tools failed"
	local src
	src=$(mktemp -d "$a/.src.XXXXXX")
	tar -xf "$a"/kexec-tools_*.orig.tar.* -C "$src" --strip-components=1
	tar -xf "$a"/kexec-tools_*.debian.tar.* -C "$src"
	local p
	while read -r p; do
		[[ -z $p || $p == \#* ]] && continue
		patch -d "$src" -p1 -s <"$src/debian/patches/$p" || die "kexec-tools: patch $p failed"
	done <"$src/debian/patches/series"
	(cd "$src" && ./configure -q --host=aarch64-linux-gnu --without-zlib --without-lzma --without-xen \
		LDFLAGS=-static >/dev/null && make -s -j"$(nproc)" >/dev/null 2>&1) ||
		die "kexec-tools: cross build failed (in $src)"
	aarch64-linux-gnu-strip -o "$a/kexec" "$src/build/sbin/kexec"
	rm -rf "$src" "$a/apt"
	touch "$a/.complete"
	printf '%s\n' "$a/kexec"
}
