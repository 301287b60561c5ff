"""The local cloud stack: emulators, moto and the Personalize-compatible engine."""
