"""The development stack: `customer-timeline dev` (the whole product supervised on one machine) and its demo."""
