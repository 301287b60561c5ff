"""What makes a public release safe and useful: transforms, measured risk, utility, DP counts, datasheet.

Pure Python (no pandas): ``shared.publish`` reads and writes the files, these modules decide and measure.
"""
