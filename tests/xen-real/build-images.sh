#!/bin/bash
# SPDX-License-Identifier: MIT
#
# tests/xen-real/build-images.sh - build everything the real-Xen test boots,
# from Debian 12 packages, on a fresh Debian 12 machine (apt must work).
#
#   build-images.sh [--builddir DIR] [--out DIR]
#
# Cache: ${VK_CACHE:-~/.cache/vhostkit}/xen (reused when present):
#   xen.elf            /boot/xen-4.17-amd64.gz of xen-hypervisor-4.17-amd64,
#                      gunzipped (apt-get download + dpkg-deb -x: the
#                      hypervisor is never installed on this machine)
#   kernel-*-dom0      Debian's 6.1 linux-image-*-amd64 and the Xen modules
#   kernel-*-guest     the guest kernel (the same one, see below) and its
#                      virtio_mmio + vsock modules
#   dom0-base.cpio.gz  dom0 userland: mmdebstrap --variant=extract of
#                      xen-utils-4.17, qemu-system-xen, seabios, busybox...
#                      with docs, locales, man pages, python stripped
#   guest-initrd.img   scripts/guest-image's busybox + static vsock-guest
#                      initramfs, plus this kernel's virtio_mmio and vsock
#                      modules
# With --builddir (a configure --enable-xen build tree) the per-run part is
# made in --out (default $cache/run): dom0-initrd.gz = dom0-base + an
# overlay holding /init, the dom0 test script, our binaries
# (vhost-device-vsock, xen-vhost-master, tests/e2e/vsock-host) with any
# shared library the base lacks, the guest kernel, initramfs and the SSDT.
# Missing programs are left out: the dom0 test then reports the steps that
# need them as failed, with the reason.
#
# Prints KEY=VALUE lines (XEN, DOM0_KERNEL, DOM0_INITRD, BINARIES) on stdout;
# progress and timings go to stderr.
#
# Environment: VK_CACHE, VK_NO_INSTALL=1 (do not apt-get install tools),
# VK_GUEST_IMAGE (the guest image builder, default scripts/guest-image),
# VK_DEBIAN_MIRROR (default: the host's apt source for bookworm).
set -eu
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${VK_CACHE:-${HOME:-/root}/.cache/vhostkit}/xen
builddir=
out=
while [ $# -gt 0 ]; do
	case $1 in
	--builddir) builddir=$(cd "$2" && pwd); shift 2 ;;
	--out) out=$2; shift 2 ;;
	-h|--help) sed -n '3,37p' "$0"; exit 0 ;;
	*) echo "build-images: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
out=${out:-$cache/run}

T0=$(date +%s)
log() { echo "build-images: [$(( $(date +%s) - T0 ))s] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$cache/debs"
exec 8>"$cache/.lock"
flock -w 900 8 || die "cannot lock $cache/.lock"

# ---------------------------------------------------------------- host tools
need_tools() {
	local missing=() p
	for p in mmdebstrap acpica-tools qemu-system-x86 cpio dpkg-dev binutils gzip xz-utils zstd; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "${VK_NO_INSTALL:-0}" = 1 ] || [ "$(id -u)" != 0 ]; then
		die "missing Debian packages: ${missing[*]} (apt-get install them)"
	fi
	log "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" </dev/null >&2 ||
		{ apt-get update -q </dev/null >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" </dev/null >&2; } ||
		die "apt-get install ${missing[*]} failed"
}
need_tools

apt_lists_checked=0
apt_lists() {
	[ $apt_lists_checked = 1 ] && return 0
	apt_lists_checked=1
	if ! apt-cache show xen-utils-4.17 2>/dev/null | grep -q '^Filename:'; then
		[ "$(id -u)" = 0 ] || die "apt knows no xen-utils-4.17 (run apt-get update)"
		log "apt-get update"
		apt-get update -q </dev/null >&2 || die "apt-get update failed"
	fi
}

# fetch PKG: newest .deb of PKG in the cache (apt-get download once)
fetch() {
	local pkg=$1 deb
	apt_lists
	local ver
	ver=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || die "apt knows no package $pkg"
	deb=$cache/debs/${pkg}_${ver/:/%3a}_amd64.deb
	if [ ! -s "$deb" ]; then
		log "apt-get download $pkg ($ver)"
		(cd "$cache/debs" && apt-get download -q "$pkg=$ver" </dev/null >&2 2>&1) ||
			die "apt-get download $pkg failed"
	fi
	[ -s "$deb" ] || die "apt-get download $pkg: $deb missing"
	echo "$deb"
}

# ---------------------------------------------------------------- Xen
xen_deb=$(fetch xen-hypervisor-4.17-amd64)
if [ ! -s "$cache/xen.elf" ] || [ "$(cat "$cache/xen.elf.src" 2>/dev/null)" != "$xen_deb" ]; then
	rm -rf "$cache/xen.x"; mkdir -p "$cache/xen.x"
	dpkg-deb -x "$xen_deb" "$cache/xen.x"
	gz=$(ls "$cache"/xen.x/boot/xen-4.17-amd64.gz 2>/dev/null || ls "$cache"/xen.x/boot/xen-*.gz | head -n 1)
	gzip -dc "$gz" >"$cache/xen.elf.tmp"
	mv "$cache/xen.elf.tmp" "$cache/xen.elf"
	echo "$xen_deb" >"$cache/xen.elf.src"
	rm -rf "$cache/xen.x"
	log "xen.elf from $(basename "$xen_deb")"
fi

# ---------------------------------------------------------------- kernels
# dom0: Debian's 6.1 generic kernel (the cloud flavour has no dom0 support).
# The guest: the same generic kernel by default.  qemu-xen loads a direct
# boot kernel through fw_cfg without DMA: one ioreq round trip to dom0 per
# 4 KiB, so the 8 MB XZ image beats the cloud kernel's 14 MB LZ4 one
# (VK_XEN_GUEST_FLAVOUR=cloud-amd64 selects that one).
apt_lists
dom0_modules="xen-evtchn xenfs xen-privcmd xen-gntdev xen-gntalloc"
guest_modules="virtio_ring virtio virtio_mmio vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport"

# mod_order DIR NAME...: NAMEs and their dependencies, dependencies first
mod_order() {
	local dir=$1 m seen=" " order=()
	shift
	visit() {
		local m=$1 f d
		case $seen in *" $m "*) return 0 ;; esac
		seen="$seen$m "
		f=$(find "$dir" -name "$m.ko" -o -name "${m//_/-}.ko" | head -n 1)
		[ -n "$f" ] || die "module $m not found in $dir"
		for d in $(strings -a "$f" | sed -n 's/^depends=//p' | tr , ' '); do
			visit "$d"
		done
		order+=("$(basename "$f" .ko)")
	}
	for m in "$@"; do visit "$m"; done
	echo "${order[*]}"
}

# prepare_kernel FLAVOUR SET MODULES...: $cache/kernel-KVER-SET/{vmlinuz,
# *.ko, order}; prints the directory.
prepare_kernel() {
	local flavour=$1 set=$2 kpkg kver kdir kdeb m f order
	shift 2
	kpkg=$(apt-cache depends "linux-image-$flavour" 2>/dev/null |
		sed -n "s/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-$flavour\)\$/\1/p" | head -n 1)
	[ -n "$kpkg" ] || die "cannot resolve linux-image-$flavour to a 6.1 kernel package"
	kver=${kpkg#linux-image-}
	kdir=$cache/kernel-$kver-$set
	if [ ! -f "$kdir/ready" ]; then
		kdeb=$(fetch "$kpkg")
		rm -rf "$kdir" "$kdir.x"; mkdir -p "$kdir.x" "$kdir"
		log "extracting $(basename "$kdeb")"
		dpkg-deb -x "$kdeb" "$kdir.x"
		cp "$kdir.x/boot/vmlinuz-$kver" "$kdir/vmlinuz"
		local mdir=$kdir.x/lib/modules/$kver/kernel
		find "$mdir" -name '*.ko.xz' -exec xz -d {} + 2>/dev/null || true
		order=$(mod_order "$mdir" "$@")
		for m in $order; do
			f=$(find "$mdir" -name "$m.ko" | head -n 1)
			cp "$f" "$kdir/"
		done
		echo "$order" >"$kdir/order"
		echo "$kver" >"$kdir/kver"
		rm -rf "$kdir.x"
		touch "$kdir/ready"
		log "kernel $kver ($set): modules $order"
	fi
	echo "$kdir"
}
dom0_kdir=$(prepare_kernel amd64 dom0 $dom0_modules)
guest_kdir=$(prepare_kernel "${VK_XEN_GUEST_FLAVOUR:-amd64}" guest $guest_modules)
kver=$(cat "$dom0_kdir/kver")

# ---------------------------------------------------------------- dom0 base
# Debian sources for mmdebstrap: the host's apt sources for bookworm (only
# the Debian ones; other repositories configured on the host are ignored).
mirror_lines() {
	if [ -n "${VK_DEBIAN_MIRROR:-}" ]; then
		echo "deb $VK_DEBIAN_MIRROR bookworm main"
		echo "deb $VK_DEBIAN_MIRROR bookworm-updates main"
		return
	fi
	apt-get indextargets --format '$(BASE_URI) $(CODENAME) $(COMPONENT)' 2>/dev/null |
		sed -n 's#^\(.*\)/dists/\(bookworm[a-z-]*\)/ bookworm[a-z-]* main$#deb \1 \2 main#p' | sort -u
}

dom0_pkgs="xen-utils-4.17,xenstore-utils,qemu-system-xen,seabios,busybox,kmod,libc-bin"
# Paths removed from the extracted tree: not needed to run xl, xenstored,
# xenconsoled and qemu-xen for a guest without disks, NICs or display.
strip_paths="usr/share/doc usr/share/man usr/share/info usr/share/locale usr/share/lintian
	usr/share/iso-codes usr/share/xml usr/share/perl5 usr/share/python3 usr/share/gcc usr/share/gdb
	usr/share/bash-completion usr/share/bug usr/share/icons usr/share/gst-plugins-base
	usr/share/initramfs-tools usr/lib/python3 usr/lib/python3.11 usr/lib/ipxe
	usr/lib/x86_64-linux-gnu/gconv usr/lib/x86_64-linux-gnu/perl-base usr/lib/x86_64-linux-gnu/perl
	usr/lib/x86_64-linux-gnu/gstreamer-1.0 usr/lib/x86_64-linux-gnu/gio usr/lib/x86_64-linux-gnu/gdk-pixbuf-2.0
	usr/share/qemu/openbios-ppc usr/share/qemu/openbios-sparc32 usr/share/qemu/openbios-sparc64
	usr/share/qemu/s390-ccw.img usr/share/qemu/s390-netboot.img usr/share/qemu/slof.bin
	usr/share/qemu/skiboot.lid usr/share/qemu/hppa-firmware.img usr/share/qemu/palcode-clipper
	usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.elf
	usr/share/qemu/npcm7xx_bootrom.bin usr/share/qemu/u-boot.e500 usr/share/qemu/u-boot-sam460-20100605.bin
	usr/lib/xen-4.17/boot/xen-shim var/cache/apt var/lib/apt/lists var/log"
base_key=$(printf '%s\n' "$dom0_pkgs" "$strip_paths" "$kver" "$(cat "$dom0_kdir/order")" "$(mirror_lines)" v4 | sha256sum | cut -c1-16)
base=$cache/dom0-base.cpio.gz
if [ ! -s "$base" ] || [ "$(cat "$base.key" 2>/dev/null)" != "$base_key" ]; then
	mapfile -t sources < <(mirror_lines)
	[ ${#sources[@]} -gt 0 ] || die "no Debian bookworm apt source configured on this machine"
	root=$cache/dom0-root
	rm -rf "$root"
	log "mmdebstrap --variant=extract --include=$dom0_pkgs (${sources[*]})"
	t=$(date +%s)
	mmdebstrap --quiet --variant=extract --include="$dom0_pkgs" bookworm "$root" "${sources[@]}" \
		>"$cache/mmdebstrap.log" 2>&1 || { tail -n 30 "$cache/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
	log "mmdebstrap took $(( $(date +%s) - t ))s, $(du -sm "$root" | cut -f1) MiB"
	for p in $strip_paths; do rm -rf "${root:?}/$p"; done
	find "$root/usr/share/qemu/keymaps" -type f ! -name en-us ! -name common ! -name modifiers -delete 2>/dev/null || true
	# dom0 modules, loaded by /init with insmod in this order
	mkdir -p "$root/lib/modules/vk"
	cp "$dom0_kdir"/*.ko "$dom0_kdir/order" "$root/lib/modules/vk/"
	mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/run" "$root/tmp" "$root/var/lib/xen" \
		"$root/var/log/xen" "$root/var/run" "$root/var/lib/xenstored" "$root/root"
	log "dom0 tree after stripping: $(du -sm "$root" | cut -f1) MiB"
	(cd "$root" && find . | sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 >"$base.tmp"
	mv "$base.tmp" "$base"
	echo "$base_key" >"$base.key"
	# Keep the list of libraries the base has, for the overlay.
	(cd "$root" && find . -name '*.so*' \( -type f -o -type l \) -printf '%f\n' | sort -u) >"$cache/dom0-base.libs"
	rm -rf "$root"
	log "dom0-base.cpio.gz: $(du -m "$base" | cut -f1) MiB"
fi

# ---------------------------------------------------------------- guest
guest_image=${VK_GUEST_IMAGE:-$top/scripts/guest-image}
ginitrd=$cache/guest-initrd.img
if [ -x "$guest_image" ]; then
	# guest-image's busybox + static vsock-guest + /init (it is rebuilt
	# when the program's sources change), with this kernel's modules.
	line=$("$guest_image" 6.1 | tail -n 1) || die "$guest_image failed"
	set -- $line
	gdir=$3
	g=$cache/guest-ovl
	rm -rf "$g"; mkdir -p "$g/lib/modules"
	cp "$guest_kdir"/*.ko "$g/lib/modules/"
	cp "$guest_kdir/order" "$g/lib/modules/order"
	(cd "$g" && find . | sort | cpio --quiet -o -H newc -R 0:0) >"$cache/guest-ovl.cpio"
	cat "$gdir/initrd.img" "$cache/guest-ovl.cpio" >"$ginitrd.tmp"
	mv "$ginitrd.tmp" "$ginitrd"
	rm -rf "$g" "$cache/guest-ovl.cpio"
else
	die "guest image builder $guest_image not found (branch guest: scripts/guest-image)"
fi

echo "XEN=$cache/xen.elf"
echo "DOM0_KERNEL=$dom0_kdir/vmlinuz"
echo "KVER=$kver"
echo "GUEST_KVER=$(cat "$guest_kdir/kver")"

[ -n "$builddir" ] || { log "done (no --builddir: no per-run dom0 initrd)"; exit 0; }

# ---------------------------------------------------------------- per-run overlay
# real_binary PATH: the ELF behind a libtool wrapper script
real_binary() {
	local p=$1
	[ -f "$p" ] || return 1
	if head -c 2 "$p" | grep -q '#!'; then
		local d b
		d=$(dirname "$p"); b=$(basename "$p")
		if [ -x "$d/.libs/$b" ]; then echo "$d/.libs/$b"; return 0; fi
		if [ -x "$d/.libs/lt-$b" ]; then echo "$d/.libs/lt-$b"; return 0; fi
		return 1
	fi
	echo "$p"
}

mkdir -p "$out"
ovl=$out/overlay
rm -rf "$ovl"; mkdir -p "$ovl/vk/bin" "$ovl/vk/lib" "$ovl/vk/guest"
bins=()
for b in vhost-device-vsock xen-vhost-master:xen/xen-vhost-master vsock-host:tests/e2e/vsock-host; do
	name=${b%%:*}
	cands="$name"
	[ "$b" != "$name" ] && cands="$name ${b#*:}"
	for c in $cands; do
		if p=$(real_binary "$builddir/$c"); then
			cp "$p" "$ovl/vk/bin/$name"
			bins+=("$name")
			break
		fi
	done
done
# Shared libraries the dom0 base lacks (same Debian release as this host).
for b in "${bins[@]}"; do
	ldd "$ovl/vk/bin/$b" 2>/dev/null | awk '/=> \// { print $1, $3 }' | while read -r so path; do
		grep -qxF "$so" "$cache/dom0-base.libs" && continue
		[ -e "$ovl/vk/lib/$so" ] || cp -L "$path" "$ovl/vk/lib/$so"
	done
done
cp "$here/dom0-init" "$ovl/init"
cp "$here/dom0-test.sh" "$here/guest-test.sh" "$ovl/vk/"
chmod +x "$ovl/init" "$ovl/vk/dom0-test.sh" "$ovl/vk/guest-test.sh"
cp "$guest_kdir/vmlinuz" "$ovl/vk/guest/vmlinuz"
# The guest's /test.sh goes in as one more cpio appended to its initramfs.
mkdir -p "$out/gt"
cp "$here/guest-test.sh" "$out/gt/test.sh"
chmod +x "$out/gt/test.sh"
(cd "$out/gt" && echo test.sh | cpio --quiet -o -H newc -R 0:0) >"$out/gt.cpio"
# One gzip stream: less to move through fw_cfg (an ioreq per 4 KiB under Xen).
cat "$ginitrd" "$out/gt.cpio" | gzip -9 >"$ovl/vk/guest/initrd.img"
rm -rf "$out/gt" "$out/gt.cpio"
# VK_XEN_SSDT=level: the Level declaration that loses edges (watchdog proof)
"$top/scripts/xen-virtio-ssdt" ${VK_XEN_SSDT:+--$VK_XEN_SSDT} 0xFE000000 7 "$ovl/vk/guest/ssdt.aml"
printf '%s\n' "${bins[@]}" >"$ovl/vk/binaries"
(cd "$ovl" && find . | sort | cpio --quiet -o -H newc -R 0:0) | gzip -1 >"$out/overlay.cpio.gz"
cat "$base" "$out/overlay.cpio.gz" >"$out/dom0-initrd.gz"
rm -rf "$ovl" "$out/overlay.cpio.gz"
log "dom0-initrd.gz: $(du -m "$out/dom0-initrd.gz" | cut -f1) MiB; our binaries: ${bins[*]:-none}"
echo "DOM0_INITRD=$out/dom0-initrd.gz"
echo "BINARIES=\"${bins[*]:-}\""
