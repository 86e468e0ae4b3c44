"""Tongban (通办): integrated online government services."""
