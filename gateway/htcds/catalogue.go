// Package htcds is Tumar's canonical record: the field names and picklists of
// IOM's Human Trafficking Case Data Standard (HTCDS) 2.0, and the one table that
// says how sensitive each field is.
//
// The catalogue in this file is the single place where fields are listed.
// Pseudonymisation reads a field's Role, the policy reads its Class and Kind,
// and generalisation reads its Generalization; no other package keeps a list of
// field names.
package htcds

import (
	"encoding/json"
	"slices"
)

// Class says how much a field reveals about a person. It is the main input of
// the release policy.
type Class uint8

// The four classes. Their string forms are what the policy sees.
const (
	// Operational fields describe the case handling, not the person.
	Operational Class = iota
	// DirectIdentifier fields name the person on their own (name, document,
	// phone, street address) or may do so (free text).
	DirectIdentifier
	// QuasiIdentifier fields identify a person in combination (birth date,
	// gender, citizenship, town).
	QuasiIdentifier
	// Sensitive fields are not identifying but harmful if disclosed (how the
	// person was exploited and controlled, their status).
	Sensitive
)

var classNames = [...]string{"operational", "direct_identifier", "quasi_identifier", "sensitive"}

func (c Class) String() string { return classNames[c] }

// Kind is a field's value type; it decides the JSON shape and the validation.
type Kind uint8

// The kinds of value.
const (
	Text          Kind = iota // a short string
	FreeText                  // narrative text: often holds names, so never assumed safe
	Date                      // YYYY-MM-DD
	Picklist                  // one value of Field.Values
	MultiPicklist             // a JSON array of values of Field.Values
	Integer                   // a JSON integer
	Number                    // a JSON number (coordinates)
	Boolean                   // true or false
	Country                   // ISO 3166-1 alpha-2 or alpha-3 code
	CountryList               // a JSON array of Country codes
	Language                  // ISO 639 code
	Phone                     // a telephone number as written by the source
	Email                     // an e-mail address
)

var kindNames = [...]string{"text", "free_text", "date", "picklist", "multi_picklist", "integer",
	"number", "boolean", "country", "country_list", "language", "phone", "email"}

func (k Kind) String() string { return kindNames[k] }

// list reports whether the kind is carried as a JSON array.
func (k Kind) list() bool { return k == MultiPicklist || k == CountryList }

// stringValued reports whether the kind is carried as a JSON string.
func (k Kind) stringValued() bool {
	return !k.list() && k != Integer && k != Number && k != Boolean
}

// Role marks the fields that make up a person's identity for linking.
type Role uint8

// The identity roles.
const (
	NoRole Role = iota
	RoleFirstName
	RoleMiddleName
	RoleLastName
	RoleBirthdate
	RoleDocument
	RoleMobilePhone
	roleCount // the number of roles: keep it last
)

// Generalization is what "generalise" means for a field.
type Generalization uint8

// The generalisations.
const (
	NoGeneralization   Generalization = iota // generalise is not possible: the policy must not ask for it
	ToYear                                   // a date becomes its year
	ToAgeBand                                // an age becomes a five-year band, 18-24 style
	ToRegion                                 // an address part becomes the address's region (state), or its country
	ToCoarseCoordinate                       // a coordinate is rounded to one decimal degree (about 11 km)
)

var genNames = [...]string{"none", "year", "age_band", "region", "coarse_coordinate"}

func (g Generalization) String() string { return genNames[g] }

// Field describes one HTCDS field.
type Field struct {
	ID     FieldID
	Name   string // HTCDS system name: prefix + name
	Class  Class
	Kind   Kind
	Values []string // allowed values for Picklist and MultiPicklist
	Role   Role
	Gen    Generalization
	// Address names the address group of an address part ("prs_Mailing",
	// "org_Shipping", "hte_"); ToRegion reads the group's State, then Country.
	Address string
	// Latitude marks a Number that is a latitude (-90 to 90) rather than a longitude.
	Latitude bool
}

// FieldID indexes the catalogue. IDs are stable only within one build.
type FieldID uint16

var (
	genders        = []string{"Feminine", "Masculine", "TransgenderFeminine", "TransgenderMasculine", "NonConforming", "NonSpecifiedUnknown"}
	orgTypes       = []string{"NGO", "LawEnforcement", "HealthServiceOrganisation", "CentralGovernmentOrganisation", "LocalGovernmentOrganisation", "ImmigrationService", "LegalService", "CorporateBusiness", "SchoolOrCollege"}
	maritalStatus  = []string{"Single", "Married", "Widowed", "Divorced", "Separated", "RegisteredPartnership"}
	isced2011      = []string{"EarlyChildhoodEducation", "PrimaryEducation", "LowerSecondaryEducation", "UpperSecondaryEducation", "PostSecondaryNonTertiaryEducation", "ShortCycleTertiaryEducation", "BachelorsOrEquivalent", "MastersOrEquivalent", "DoctoralOrEquivalent"}
	vicStatus      = []string{"PossibleVictimOfTrafficking", "ActualVictimOfTrafficking", "NotAVictimOfTrafficking"}
	decisionOrgs   = []string{"Police", "NGO", "CourtOrProsecution", "NonPoliceGovernmentalOrganization", "Other"}
	relationships  = []string{"Familial", "Acquainted", "Unaquainted"}
	recruitMethods = []string{"AtAPlaceOfBusiness", "AtAnEducationalInstitution", "AtWork", "ThroughOnlineSocialNetworks", "ThroughAnOnlineAdvertisement", "ThroughATelevisionAdvert", "ThroughANewspaperAdvert", "ThroughFamilyOrFamilyEvents", "ThroughFriendsOrSocialEvents", "Other"}
	websites       = []string{"Facebook", "Instagram", "WhatsApp", "Telegram", "FacebookMessenger", "Viber", "SnapChat", "Line", "4Sale", "WeChat", "QQ", "QZone", "TikTok", "Twitter", "Other"}
	controls       = []string{"DebtBondage", "TakesEarnings", "RestrictsFinancialAccess", "Threats", "PsychologicalAbuse", "PhysicalAbuse", "SexualAbuse", "FalsePromises", "PsychoactiveSubstances", "RestrictsMovement", "RestrictsMedicalCare", "ExcessiveWorkingHours", "UsesChildren", "ThreatOfLawEnforcement", "WithholdsNecessities", "WithholdsDocuments", "Other"}
	exploitation   = []string{"ForcedLabour", "SexualExploitation", "ChildLabour", "ForcedMarriage", "Servitude", "ForcedMilitaryByNonStateActors", "OrganRemoval", "ForcedBegging", "ForcedAdoption", "Surrogacy", "Other"}
	// ISIC rev. 4 sections; HTCDS writes them as letter_Title.
	isicSections = []string{"A_AgricultureForestryAndFishing", "B_MiningAndQuarrying", "C_Manufacturing", "D_ElectricityGasSteamAndAirConditioningSupply", "E_WaterSupplySewerageWasteManagementAndRemediationActivities", "F_Construction", "G_WholesaleAndRetailTradeRepairOfMotorVehiclesAndMotorcycles", "H_TransportationAndStorage", "I_AccommodationAndFoodServiceActivities", "J_InformationAndCommunication", "K_FinancialAndInsuranceActivities", "L_RealEstateActivities", "M_ProfessionalScientificAndTechnicalActivities", "N_AdministrativeAndSupportServiceActivities", "O_PublicAdministrationAndDefenceCompulsorySocialSecurity", "P_Education", "Q_HumanHealthAndSocialWorkActivities", "R_ArtsEntertainmentAndRecreation", "S_OtherServiceActivities", "T_ActivitiesOfHouseholdsAsEmployers", "U_ActivitiesOfExtraterritorialOrganizations"}
	sexExploit   = []string{"Prostitution", "Pornography", "RemoteInteractiveServices", "PrivateSexualServices"}
	perRoles     = []string{"TravellingPartner", "Transporter", "RecruiterOrIntermediary", "BrokerTravelAgent", "TransferredIndividual", "HarbouredIndividual", "SoldIndividual", "BoughtIndividual", "ReceivedIndividual", "ControlledIndividual", "Smuggler", "Abuser", "Kidnapper", "Exploiter", "Other"}
	caseStatus   = []string{"Active", "FollowUp", "Closed", "ClosedReferred"}
	inReasons    = []string{"AdditionalServicesRequired", "MigrationOrChangeOfLocation", "Other"}
	eventTypes   = []string{"Recruitment", "Transit", "Exploitation"}
	supportTypes = []string{"Education", "Financial", "Health", "LabourExploitationRehabilitation", "Legal", "Livelihood", "RightsBasedTraining", "SexualExploitationRehabilitation", "SocialCare"}
)

// catalogue lists every field Tumar accepts, in HTCDS order. It is the one
// table that classifies fields.
var catalogue = []Field{
	// Organisation: the reporting organisation, not the person.
	{Name: "org_Name", Class: Operational, Kind: Text},
	{Name: "org_Type", Class: Operational, Kind: Picklist, Values: orgTypes},
	{Name: "org_Phone", Class: Operational, Kind: Phone},
	{Name: "org_ShippingStreet", Class: Operational, Kind: Text},
	{Name: "org_ShippingCity", Class: Operational, Kind: Text},
	{Name: "org_ShippingState", Class: Operational, Kind: Text},
	{Name: "org_ShippingPostalCode", Class: Operational, Kind: Text},
	{Name: "org_ShippingCountry", Class: Operational, Kind: Country},
	{Name: "org_ShippingLatitude", Class: Operational, Kind: Number, Latitude: true},
	{Name: "org_ShippingLongitude", Class: Operational, Kind: Number},

	// Person.
	{Name: "prs_Salutation", Class: QuasiIdentifier, Kind: Text},
	{Name: "prs_FirstName", Class: DirectIdentifier, Kind: Text, Role: RoleFirstName},
	{Name: "prs_MiddleName", Class: DirectIdentifier, Kind: Text, Role: RoleMiddleName},
	{Name: "prs_SecondName", Class: DirectIdentifier, Kind: Text, Role: RoleLastName},
	{Name: "prs_Birthdate", Class: QuasiIdentifier, Kind: Date, Role: RoleBirthdate, Gen: ToYear},
	{Name: "prs_Gender", Class: QuasiIdentifier, Kind: Picklist, Values: genders},
	{Name: "prs_Deceased", Class: Sensitive, Kind: Boolean},
	{Name: "prs_MaritalStatus", Class: QuasiIdentifier, Kind: Picklist, Values: maritalStatus},
	{Name: "prs_NumberOfChildren", Class: QuasiIdentifier, Kind: Integer},
	{Name: "prs_PrimaryLanguage", Class: QuasiIdentifier, Kind: Language},
	{Name: "prs_SecondaryLanguage", Class: QuasiIdentifier, Kind: Language},
	{Name: "prs_HighestLevelOfEducation", Class: QuasiIdentifier, Kind: Picklist, Values: isced2011},
	{Name: "prs_Citizenship", Class: QuasiIdentifier, Kind: CountryList},
	{Name: "prs_IdentityNumber", Class: DirectIdentifier, Kind: Text, Role: RoleDocument},
	{Name: "prs_Title", Class: QuasiIdentifier, Kind: Text},
	{Name: "prs_Email", Class: DirectIdentifier, Kind: Email},
	{Name: "prs_HomePhone", Class: DirectIdentifier, Kind: Phone},
	{Name: "prs_MobilePhone", Class: DirectIdentifier, Kind: Phone, Role: RoleMobilePhone},
	{Name: "prs_MailingStreet", Class: DirectIdentifier, Kind: Text, Gen: ToRegion, Address: "prs_Mailing"},
	{Name: "prs_MailingCity", Class: QuasiIdentifier, Kind: Text, Gen: ToRegion, Address: "prs_Mailing"},
	{Name: "prs_MailingState", Class: QuasiIdentifier, Kind: Text, Gen: ToRegion, Address: "prs_Mailing"},
	{Name: "prs_MailingPostalCode", Class: QuasiIdentifier, Kind: Text, Gen: ToRegion, Address: "prs_Mailing"},
	{Name: "prs_MailingCountry", Class: QuasiIdentifier, Kind: Country, Address: "prs_Mailing"},
	{Name: "prs_MailingLatitude", Class: DirectIdentifier, Kind: Number, Gen: ToCoarseCoordinate, Latitude: true},
	{Name: "prs_MailingLongitude", Class: DirectIdentifier, Kind: Number, Gen: ToCoarseCoordinate},

	// Person in the victim context.
	{Name: "vic_TraffickingStatus", Class: Sensitive, Kind: Picklist, Values: vicStatus},
	{Name: "vic_TraffickingStatusDecisionMakingOrg", Class: Sensitive, Kind: Picklist, Values: decisionOrgs},
	{Name: "vic_RelationshipToTrafficker", Class: Sensitive, Kind: Picklist, Values: relationships},
	{Name: "vic_AgeWhenTrafficked", Class: QuasiIdentifier, Kind: Integer, Gen: ToAgeBand},
	{Name: "vic_MethodOfRecruitment", Class: Sensitive, Kind: Picklist, Values: recruitMethods},
	{Name: "vic_LocationOfRecruitment", Class: QuasiIdentifier, Kind: Text},
	{Name: "vic_RecruitmentWebsitesAndApps", Class: Sensitive, Kind: MultiPicklist, Values: websites},
	{Name: "vic_ExploitationWebsitesAndApps", Class: Sensitive, Kind: MultiPicklist, Values: websites},
	{Name: "vic_MethodsOfControl", Class: Sensitive, Kind: MultiPicklist, Values: controls},
	{Name: "vic_TypeOfExploitation", Class: Sensitive, Kind: MultiPicklist, Values: exploitation},
	{Name: "vic_ForcedLabourIndustry", Class: Sensitive, Kind: Picklist, Values: isicSections},
	{Name: "vic_TypeOfSexExploitation", Class: Sensitive, Kind: Picklist, Values: sexExploit},
	{Name: "vic_LocationOfExploitation", Class: QuasiIdentifier, Kind: Text},

	// Person in the perpetrator context.
	{Name: "per_RoleInProcess", Class: Sensitive, Kind: Picklist, Values: perRoles},
	{Name: "per_RoleDetails", Class: DirectIdentifier, Kind: FreeText},
	{Name: "per_Organisation", Class: Sensitive, Kind: Text},

	// Case and referral.
	{Name: "cas_Status", Class: Operational, Kind: Picklist, Values: caseStatus},
	{Name: "cas_ReasonForCaseClosure", Class: DirectIdentifier, Kind: FreeText},
	{Name: "cas_CaseOwner", Class: Operational, Kind: Text},
	{Name: "cas_ReferringOrganisation", Class: Operational, Kind: Text},
	{Name: "cas_IncomingReferralDate", Class: Operational, Kind: Date},
	{Name: "cas_ReferringPrimaryCaseWorker", Class: Operational, Kind: Text},
	{Name: "cas_ReasonForIncomingReferral", Class: Operational, Kind: Picklist, Values: inReasons},
	{Name: "cas_IncomingReferralDetails", Class: DirectIdentifier, Kind: FreeText},
	{Name: "cas_ReferredOrganisation", Class: Operational, Kind: Text},
	{Name: "cas_ReferredPrimaryCaseWorker", Class: Operational, Kind: Text},
	{Name: "cas_ReasonForOutgoingReferral", Class: Operational, Kind: Text},
	{Name: "cas_OutgoingReferralDate", Class: Operational, Kind: Date},
	{Name: "cas_OutgoingReferralDetails", Class: DirectIdentifier, Kind: FreeText},

	// Historic trafficking event.
	{Name: "hte_Type", Class: Sensitive, Kind: Picklist, Values: eventTypes},
	{Name: "hte_Date", Class: QuasiIdentifier, Kind: Date, Gen: ToYear},
	{Name: "hte_Street", Class: DirectIdentifier, Kind: Text, Gen: ToRegion, Address: "hte_"},
	{Name: "hte_City", Class: QuasiIdentifier, Kind: Text, Gen: ToRegion, Address: "hte_"},
	{Name: "hte_State", Class: QuasiIdentifier, Kind: Text, Gen: ToRegion, Address: "hte_"},
	{Name: "hte_PostalCode", Class: QuasiIdentifier, Kind: Text, Gen: ToRegion, Address: "hte_"},
	{Name: "hte_Country", Class: QuasiIdentifier, Kind: Country, Address: "hte_"},
	{Name: "hte_Latitude", Class: QuasiIdentifier, Kind: Number, Gen: ToCoarseCoordinate, Latitude: true},
	{Name: "hte_Longitude", Class: QuasiIdentifier, Kind: Number, Gen: ToCoarseCoordinate},
	{Name: "hte_Description", Class: DirectIdentifier, Kind: FreeText},

	// Support plan.
	{Name: "spl_Type", Class: Sensitive, Kind: Picklist, Values: supportTypes},
	{Name: "spl_Objectives", Class: DirectIdentifier, Kind: FreeText},
	{Name: "spl_ActionPlan", Class: DirectIdentifier, Kind: FreeText},
	{Name: "spl_PlannedEndDate", Class: Operational, Kind: Date},
	{Name: "spl_ActualEndDate", Class: Operational, Kind: Date},

	// Consent and comments.
	{Name: "con_Consent", Class: Operational, Kind: Boolean},
	{Name: "cco_CaseComment", Class: DirectIdentifier, Kind: FreeText},
}

// index is the catalogue's look-up tables, built once from the table above.
type index struct {
	byName    map[string]FieldID
	picklists []map[string]struct{}
	regionOf  map[string][2]FieldID // address group -> (State, Country)
	quoted    [][]byte              // each field's name as a JSON string
	byRole    [roleCount][]FieldID
}

var idx = buildIndex()

func buildIndex() index {
	ix := index{
		byName:    make(map[string]FieldID, len(catalogue)),
		picklists: make([]map[string]struct{}, len(catalogue)),
		regionOf:  make(map[string][2]FieldID),
		quoted:    make([][]byte, len(catalogue)),
	}
	for i := range catalogue {
		f := &catalogue[i]
		f.ID = FieldID(i)
		ix.byName[f.Name] = f.ID
		ix.quoted[i], _ = json.Marshal(f.Name)
		if f.Role != NoRole {
			ix.byRole[f.Role] = append(ix.byRole[f.Role], f.ID)
		}
		if len(f.Values) > 0 {
			set := make(map[string]struct{}, len(f.Values))
			for _, v := range f.Values {
				set[v] = struct{}{}
			}
			ix.picklists[i] = set
		}
	}
	for _, group := range []string{"prs_Mailing", "org_Shipping", "hte_"} {
		ix.regionOf[group] = [2]FieldID{ix.byName[group+"State"], ix.byName[group+"Country"]}
	}
	return ix
}

// Fields returns the catalogue in HTCDS order. The slice must not be modified.
func Fields() []Field { return catalogue }

// Lookup returns the field with the given HTCDS system name.
func Lookup(name string) (*Field, bool) {
	id, ok := idx.byName[name]
	if !ok {
		return nil, false
	}
	return &catalogue[id], true
}

// ByID returns the field with the given ID. It panics on an ID not from this
// catalogue, which is a programming error.
func ByID(id FieldID) *Field { return &catalogue[id] }

// FieldsWithRole returns the IDs of the fields that carry an identity role,
// from a table built once: it is on every exchange's path. The slice is
// clipped, so appending to it copies; it must not be modified.
func FieldsWithRole(r Role) []FieldID {
	if r == NoRole || int(r) >= len(idx.byRole) {
		return nil
	}
	return slices.Clip(idx.byRole[r])
}
