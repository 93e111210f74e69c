package accounting

// JoulesPerKWh is the number of joules in one kilowatt-hour: bmc measures
// energy in joules, while prices and quotas are written per kWh.
const JoulesPerKWh = 3.6e6
