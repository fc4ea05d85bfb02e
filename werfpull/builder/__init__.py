"""The reference builder: stages built with buildah, named as the signatures say."""
