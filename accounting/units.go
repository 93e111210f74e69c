package accounting

// JoulesPerKWh converts energy between the joules bmc measures and bills
// in and the kilowatt-hours tariffs and reports are written in.
const JoulesPerKWh = 3.6e6
