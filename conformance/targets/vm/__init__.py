"""The ``linux-vm`` target: a Linux kernel booted under qemu, driven through the agent protocol.

``kernels`` fetches and caches kernel images (Debian packages, a user's bzImage/vmlinux, the host's
image), ``initramfs`` builds the guest's tiny root, ``qemu`` boots it and ties its life to the run,
``target`` wraps the guest's agent as a Target. docs/linux-vm.md has the user's view.
"""
