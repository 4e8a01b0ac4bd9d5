//! Secure layer extraction into overlayfs-form layer directories.
