#!/bin/bash
# vm-image.sh builds isolab's VM image from Debian's packages alone.
#
# Usage: scripts/vm-image.sh LAB_INIT OUTDIR
#
# LAB_INIT is the static lab-init binary (cmd/lab-init), the guest's PID 1.
# Writes OUTDIR/vmlinux, the Debian kernel unpacked to an ELF file, and
# OUTDIR/initrd.img, the guest's whole root file system as an uncompressed
# initramfs: a Debian system (mmdebstrap's essential variant and
# scripts/vm/packages) with lab-init as /init. QEMU boots the two directly
# (-kernel, -initrd): no disk, no ext4 or block driver to load, no root to
# mount. The server is not in the image: guests run it from the lab's shared
# directory, so editing the server never rebuilds the image. Each step prints
# one line with its duration; a failing step prints the tail of its log.
#
# Runs as root (mmdebstrap's root mode). internal/vm runs this script and
# decides when: its cache key hashes this file, scripts/vm/ and LAB_INIT.
#
# Environment: LAB_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

if [[ $# -ne 2 ]]; then
	echo "usage: $0 LAB_INIT OUTDIR" >&2
	exit 2
fi
init=$(realpath "$1")
out=$2
here=$(dirname "$(realpath "$0")")/vm
mirror=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm

for tool in mmdebstrap cpio xz; do
	command -v "$tool" >/dev/null || {
		echo "vm image: $tool not found (try: apt-get install mmdebstrap cpio xz-utils)" >&2
		exit 1
	}
done
[[ $(id -u) -eq 0 ]] || { echo "vm image: must run as root (mmdebstrap --mode=root)" >&2; exit 1; }
[[ -x $init ]] || { echo "vm image: lab-init binary $init is not executable" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/var/tmp}/isolab-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
log=$work/step.log

# step NAME CMD...: run CMD with its output in a log, print NAME and duration.
step() {
	local name=$1 start=${EPOCHREALTIME/./} ms
	shift
	if ! "$@" >"$log" 2>&1; then
		echo "vm image: $name failed; last lines of its output:" >&2
		tail -n 30 "$log" >&2
		exit 1
	fi
	ms=$(((${EPOCHREALTIME/./} - start) / 1000))
	printf 'vm image: %s %d.%ds\n' "$name" $((ms / 1000)) $((ms % 1000 / 100))
}

bootstrap() {
	local packages m='/lib/modules/*/kernel' # a dpkg pattern, not a glob
	packages=$(grep -v '^#' "$here/packages" | xargs | tr ' ' ,)
	local opts=(
		# Debian's Essential:yes set (no apt: nothing is installed in a
		# guest) plus our packages: every byte of it is unpacked by the
		# guest's kernel at each boot.
		--variant=essential --mode=root --include="$packages"
		# Merge /usr by hand rather than through the usrmerge package,
		# which would pull in perl (55 MB).
		--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
		# The tree is thrown away if the build fails: no need to fsync.
		--dpkgopt=force-unsafe-io
		# Never unpacked, rather than deleted afterwards: faster and smaller.
		--dpkgopt='path-exclude=/usr/share/doc/*'
		--dpkgopt='path-exclude=/usr/share/man/*'
		--dpkgopt='path-exclude=/usr/share/info/*'
		--dpkgopt='path-exclude=/usr/share/locale/*'
		# iconv's character set converters (9 MB): a server sends bytes.
		--dpkgopt='path-exclude=/usr/lib/x86_64-linux-gnu/gconv/*'
		# Of the kernel's 400 MB of modules keep the ones lab-init loads
		# (vm/rootfs/etc/isolab/modules) and their dependencies; configure
		# checks that none is missing.
		--dpkgopt="path-exclude=$m/*"
	)
	local keep
	for keep in fs/9p/\* fs/netfs/\* fs/fscache/\* net/9p/\* net/core/failover.ko \
		drivers/virtio/\* drivers/net/virtio_net.ko drivers/net/net_failover.ko; do
		opts+=(--dpkgopt="path-include=$m/$keep")
	done
	# tiny-initramfs reads its configuration when the kernel is installed,
	# after the essential packages.
	opts+=(--essential-hook="mkdir -p \"\$1/etc/tiny-initramfs\" && cp '$here/rootfs/etc/tiny-initramfs/tiny-initramfs.conf' \"\$1/etc/tiny-initramfs/\"")
	mmdebstrap "${opts[@]}" "$suite" "$root" "$mirror"
}

configure() {
	cp -a "$here/rootfs/." "$root/"
	# The modules lab-init loads must be there, dependencies included.
	local kver mods
	kver=$(ls "$root/lib/modules")
	mapfile -t mods < <(grep -v -e '^#' -e '^$' "$root/etc/isolab/modules")
	chroot "$root" modprobe --set-version "$kver" --show-depends "${mods[@]}" >/dev/null
	install -m 0755 "$init" "$root/init"
	# A fixed machine ID, as an installed system has one.
	tr -d - </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
	# lab-init names each guest after its server at boot.
	echo isolab-vm >"$root/etc/hostname"
	rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*
}

publish() {
	mkdir -p "$out"
	local kernel offset
	kernel=$(ls "$root"/boot/vmlinuz-*)
	# QEMU boots the kernel uncompressed (an ELF file, through its PVH
	# entry point): under TCG, unpacking the xz-compressed bzImage inside
	# the guest took 2.3 s of a 7 s boot. Find the xz stream the way the
	# kernel's scripts/extract-vmlinux does.
	offset=$(LC_ALL=C tr '\3757zXZ\000\n' '\nabcde=' <"$kernel" | LC_ALL=C grep -m 1 -abo '^abcde' | cut -d: -f1)
	[[ -n $offset ]] || { echo "no xz stream in $kernel" >&2; return 1; }
	tail -c "+$offset" "$kernel" | xz -dc --single-stream >"$out/vmlinux.new"
	[[ $(head -c 4 "$out/vmlinux.new" | od -An -c | tr -d ' ') == 177ELF ]] || {
		echo "$kernel did not unpack to an ELF file" >&2
		return 1
	}
	# The root file system, uncompressed (the guest's kernel would spend
	# longer inflating it than reading it), in a stable order. /boot is
	# left out: QEMU loads the kernel itself.
	(cd "$root" && find . -path ./boot -prune -o -print | LC_ALL=C sort |
		cpio --quiet -o -H newc --reproducible) >"$out/initrd.img.new"
	local f
	for f in vmlinux initrd.img; do
		mv "$out/$f.new" "$out/$f"
	done
	rm -f "$out/disk.img" # an image of the days before the initramfs root
}

start=$SECONDS
step "bootstrap Debian $suite (mmdebstrap)" bootstrap
step "configure guest" configure
step "publish to $out" publish
echo "vm image: built a $(du -m --apparent-size "$out/initrd.img" | cut -f1) MiB root file system in $((SECONDS - start))s"
