#!/bin/bash
# vm-image.sh builds isolab's VM image from Debian's packages alone.
#
# Usage: scripts/vm-image.sh SERVER_BINARY OUTDIR
#
# Writes OUTDIR/disk.img (raw ext4, the guest's root file system), and the
# kernel and initrd from the image's own /boot as OUTDIR/vmlinux (unpacked)
# and OUTDIR/initrd.img, for QEMU's -kernel/-initrd. Each step prints one line with
# its duration; a failing step prints the tail of its log.
#
# Runs as root: mmdebstrap's root mode, and mkfs.ext4 -d copies the tree's
# owners as they are on disk. internal/vm runs this script and decides when:
# its cache key hashes this file, scripts/vm/ and the server binary.
#
# Environment: LAB_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

if [[ $# -ne 2 ]]; then
	echo "usage: $0 SERVER_BINARY OUTDIR" >&2
	exit 2
fi
server=$(realpath "$1")
out=$2
here=$(dirname "$(realpath "$0")")/vm
mirror=${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm

for tool in mmdebstrap mkfs.ext4 xz; do
	command -v "$tool" >/dev/null || {
		echo "vm image: $tool not found (try: apt-get install mmdebstrap e2fsprogs xz-utils)" >&2
		exit 1
	}
done
[[ $(id -u) -eq 0 ]] || { echo "vm image: must run as root (mmdebstrap --mode=root)" >&2; exit 1; }
[[ -x $server ]] || { echo "vm image: server binary $server is not executable" >&2; exit 1; }

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
		--variant=minbase --mode=root --include="$packages"
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
		# Of the kernel's 400 MB of modules keep the ones tiny-initramfs
		# loads (tiny-initramfs.conf) and their dependencies; configure
		# checks that none is missing.
		--dpkgopt="path-exclude=$m/*"
	)
	local keep
	for keep in fs/9p/\* fs/ext4/\* fs/jbd2/\* fs/mbcache.ko fs/netfs/\* fs/fscache/\* \
		net/9p/\* net/core/failover.ko drivers/virtio/\* drivers/block/virtio_blk.ko \
		drivers/net/virtio_net.ko drivers/net/net_failover.ko lib/crc16.ko \
		crypto/crc32c\* arch/x86/crypto/crc32c\*; do
		opts+=(--dpkgopt="path-include=$m/$keep")
	done
	# tiny-initramfs reads its configuration when the kernel is installed,
	# after the essential packages.
	opts+=(--essential-hook="mkdir -p \"\$1/etc/tiny-initramfs\" && cp '$here/rootfs/etc/tiny-initramfs/tiny-initramfs.conf' \"\$1/etc/tiny-initramfs/\"")
	mmdebstrap "${opts[@]}" "$suite" "$root" "$mirror"
}

configure() {
	# mktirfs does not notice a module it cannot find, so check here that
	# the initrd got every one it was asked for, dependencies included.
	local INCLUDE_MODULES kver mods
	# shellcheck disable=SC1091 # the image's copy of vm/rootfs/etc/tiny-initramfs/
	. "$root/etc/tiny-initramfs/tiny-initramfs.conf"
	kver=$(ls "$root/lib/modules")
	read -r -a mods <<<"${INCLUDE_MODULES//,/ }"
	chroot "$root" modprobe --set-version "$kver" --show-depends "${mods[@]}" >/dev/null
	cp -a "$here/rootfs/." "$root/"
	install -m 0755 "$server" "$root/usr/local/bin/server"
	local sys=$root/etc/systemd/system
	ln -sfn lab.target "$sys/default.target"
	# QEMU can press Ctrl-Alt-Del (QMP send-key) without any guest agent,
	# ACPI daemon or logind; PID 1 handles it. Make it mean power off.
	ln -sfn /lib/systemd/system/poweroff.target "$sys/ctrl-alt-del.target"
	# Generators only serve things this guest lacks (fstab, gettys, gpt,
	# cryptsetup, SysV scripts...); each costs an exec under TCG.
	mkdir -p "$root/etc/systemd/system-generators"
	local g
	for g in "$root"/lib/systemd/system-generators/*; do
		ln -sfn /dev/null "$root/etc/systemd/system-generators/${g##*/}"
	done
	# A fixed machine ID, so that no boot counts as the first (which
	# would run preset-all).
	tr -d - </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
	echo isolab-vm >"$root/etc/hostname"
	rm -rf "$root"/var/cache/apt/* "$root"/var/lib/apt/lists/* "$root"/var/log/*
}

mkfs() {
	# Free space for the guest's own writes (there are few: the server
	# writes to the share); the image is thrown away after each run anyway,
	# as the guest writes to a qcow2 overlay.
	local mb
	mb=$(($(du -sm "$root" | cut -f1) * 21 / 20 + 24))
	rm -f "$work/disk.img"
	# No journal and inode tables initialised now, so the guest's kernel
	# neither replays nor zeroes anything at boot.
	mkfs.ext4 -q -F -L isolab -O ^has_journal -m 0 \
		-E lazy_itable_init=0,lazy_journal_init=0 \
		-d "$root" "$work/disk.img" "${mb}M"
}

publish() {
	mkdir -p "$out"
	local kernel initrd offset
	kernel=$(ls "$root"/boot/vmlinuz-*)
	initrd=$(ls "$root"/boot/initrd.img-*)
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
	install -m 0644 "$initrd" "$out/initrd.img.new"
	mv "$work/disk.img" "$out/disk.img.new"
	local f
	for f in vmlinux initrd.img disk.img; do
		mv "$out/$f.new" "$out/$f"
	done
}

start=$SECONDS
step "bootstrap Debian $suite (mmdebstrap)" bootstrap
step "configure guest" configure
step "make ext4 root file system" mkfs
step "publish to $out" publish
echo "vm image: built a $(du -m --apparent-size "$out/disk.img" | cut -f1) MiB disk in $((SECONDS - start))s"
