// A refusal that names where a sealed bundle failed (a JSON path such as `state[2].code`), as
// ledger/evidence/sealed.py's SealedEvidenceError and ledger/proofs/state_proof.py's
// StateProofError do.
export class PlaceError extends Error {
  constructor(place, message) {
    super(message);
    this.place = place;
  }
}
