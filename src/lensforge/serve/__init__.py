"""The serving process (`lensforge serve`): HTTP app, keys, rate limits, metering."""
