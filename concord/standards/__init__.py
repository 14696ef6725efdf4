"""The standards at the edge: the WCO Data Model names of the declaration, UN/EDIFACT CUSDEC in and CUSRES/CONTRL
out, UN/CEFACT SPS certificates. Each converts to the commands the JSON path uses; the core stays as it is."""
